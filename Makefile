# Every target creates .venv/ at the repository root if absent and installs the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.test-installed
# The DMAOT reference implementation, used only by the parity tests (its own deps do not build).
DEAOT_REFERENCE := deaotpy==1.11.0

.PHONY: install test test-slurm smoke evaluate clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel

$(INSTALLED): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_INSTALLED): $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(DEAOT_REFERENCE)
	touch $@

install: $(INSTALLED)

## make test: the whole test suite (what .ci/run calls)
test: $(TEST_INSTALLED)
	$(PY) -m pytest

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
