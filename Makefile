# Every target installs what it needs into .venv first, so each works on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNS   ?= outputs
STUDY  ?= autovae-mnist
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: install bench-env train test docs table search search-report bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,launchers,search]"
	touch $@

# minepy (HEBAE's index-code mutual information) is built from its source archive: no wheel exists.
$(VENV)/.minepy: $(VENV)/.installed scripts/install_minepy.sh
	bash scripts/install_minepy.sh $(PY)
	touch $@

install: $(VENV)/.installed $(VENV)/.minepy

# pythae for the benchmark, kept out of .venv: installed into .bench-site and imported only there.
.bench-site/.installed: $(VENV)/.installed
	$(PY) -m pip install -q --target .bench-site --no-deps pythae imageio
	touch $@

bench-env: .bench-site/.installed

train: install            ## train the default config on MNIST (make train ARGS="posterior=logistic")
	$(PY) train.py $(ARGS)

test: install bench-env   ## the default test suite (what CI runs)
	$(PY) -m pytest -q $(PYTEST_ARGS)

docs: install             ## the docs/ pages as a site (mkdocs, strict: a broken page or anchor fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -q

table: install            ## render the seed's tables from the runs under RUNS
	$(PY) scripts/make_table.py runs=$(RUNS) $(ARGS)

search: install           ## an Optuna AutoVAE study
	$(PY) search.py $(ARGS)

search-report: install    ## best pairing, importances and plots of STUDY
	$(PY) scripts/search_report.py search.study_name=$(STUDY) $(ARGS)

bench: install bench-env  ## seconds per epoch: autovae vs a hand-written loop vs pythae
	$(PY) -m benchmarks --epochs 5 --repeats 3 --eval --breakdown --inception $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache site
