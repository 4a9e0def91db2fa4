# scoregap — the README's two commands are `make book` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
SMK     := $(VENV)/bin/snakemake
STAMP   := $(VENV)/.installed-stamp
PRESET  ?= cpu
CORES   ?= 2

.PHONY: venv test book bench workflow workflow-slurm published update-references clean-book

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# The reader's book (book/_build/html) with the shipped results (fast: cached results, no training); PRESET=paper
# reruns at paper scale.
book: $(STAMP)
	$(SMK) book --cores $(CORES) --config preset=$(PRESET)

# The whole test suite. The CI preset's book is built first, in folders of its own (book/executed/ci,
# book/_build/ci/_build/html), so the figure and browser checks see it and `make book`'s book/_build/html stays as it was.
test: $(STAMP)
	$(SMK) book --cores $(CORES) --config preset=quick
	$(PY) -m pytest -q -rs

bench: $(STAMP)
	$(PY) -m scoregap.bench --json data/bench.json

workflow: $(STAMP)
	$(SMK) --cores $(CORES) --config preset=$(PRESET)

workflow-slurm: $(STAMP)
	$(SMK) --executor slurm --profile profiles/slurm --config preset=$(PRESET)

published: $(STAMP)
	$(SMK) --cores $(CORES) published

update-references: $(STAMP)
	$(PY) -m scoregap.figures update-references

clean-book:
	rm -rf book/_build book/executed
