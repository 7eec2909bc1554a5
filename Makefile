# Every target creates .venv/ at the repository root if absent and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.test-installed
# The DMAOT reference implementation, used only by the parity tests (its own deps do not build).
DEAOT_REFERENCE := deaotpy==1.11.0
# SAM 2.1 refiners (Meta's sam2 code; an sdist whose build imports torch, hence no build isolation).
# Its CUDA extension is never built (it only fills small mask holes, which our refiner does not ask for),
# so CPU-only machines and machines with nvcc but no GPU install the same thing (README "SAM 2.1 refiners").
SAM2 := sam2==1.1.0

.PHONY: install test test-slurm smoke evaluate clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

$(INSTALLED): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e .
	SAM2_BUILD_CUDA=0 $(PY) -m pip install --quiet --no-build-isolation $(SAM2)
	touch $@

$(TEST_INSTALLED): $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(DEAOT_REFERENCE)
	touch $@

install: $(INSTALLED)

## make test: the whole test suite (what .ci/run calls), on TEST_WORKERS pytest-xdist workers
## (0 = serial), then the tests marked serial alone; tests/conftest.py says how tests share the workers. e.g. make test PYTEST_ARGS="-x tests/refine"
TEST_WORKERS ?= 2
test: $(TEST_INSTALLED)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -m 'not serial' $(PYTEST_ARGS)
	$(PY) -m pytest -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: PYTEST_ARGS selected no serial test

## make test-slurm: examples/slurm/evaluate.sbatch through real sbatch jobs (tests/slurm). Where no SLURM node
## answers, it first starts a one-node SLURM on this machine with examples/slurm/local-cluster.sh (root; apt-get).
test-slurm: $(TEST_INSTALLED)
	examples/slurm/local-cluster.sh status || examples/slurm/local-cluster.sh start
	VOTS_TEST_SLURM=1 $(PY) -m pytest tests/slurm

## make smoke: the full toolkit cycle offline on random-init weights and synthetic sequences
smoke: $(INSTALLED)
	$(VENV)/bin/vots-tracker smoke

## make evaluate: the main job (official weights, VOTS2024 workspace, every sequence as a Ray task, pack)
## e.g. make evaluate EVALUATE_ARGS="--workers 2 --tracker hqsam_gate_light"
evaluate: $(INSTALLED)
	$(VENV)/bin/vots-tracker evaluate $(EVALUATE_ARGS)

clean:
	rm -rf $(VENV) smoke-workspace build *.egg-info
