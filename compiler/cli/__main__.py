from specc.compiler.cli.main import main

main()
