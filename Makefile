# Convenience targets. The README's two commands are the reference.
BACKEND ?= jax
DEMO_DIR ?= runs/demo

.PHONY: demo test lint golden bench

demo:  ## compile every example spec for $(BACKEND) and train each briefly (scripts/demo.py)
	python scripts/demo.py --backend $(BACKEND) --out $(DEMO_DIR)

test:
	python -m pytest

lint:
	specc lint specs/

golden:
	python scripts/regenerate_golden.py
