# Convenience targets. The README's two commands are the reference.
BACKEND ?= jax
DEMO_DIR ?= runs/demo

.PHONY: demo test lint golden bench

demo:  ## compile the digits quickstart for $(BACKEND) and train it briefly
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	specc lint specs/
	specc compile specs/digits_mlp.mf --backend $(BACKEND) -o $(DEMO_DIR)/train_digits.py
	python $(DEMO_DIR)/train_digits.py --out-dir $(DEMO_DIR)/run --max-steps 300
	@echo "metrics: $(DEMO_DIR)/run/metrics.csv"

test:
	python -m pytest

lint:
	specc lint specs/

golden:
	python scripts/regenerate_golden.py
