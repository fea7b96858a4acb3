# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SAMPLE := data/sample
AS_OF := 2026-06-30

.PHONY: install demo test test-fast lint format sample clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $(STAMP)

install: $(STAMP)

## Train on the committed sample, score its open leads, write the model report, show where to look.
demo: $(STAMP)
	mkdir -p outputs
	$(BIN)/leadscore train --leads $(SAMPLE)/leads.csv --activities $(SAMPLE)/activities.csv
	$(BIN)/leadscore score --leads $(SAMPLE)/leads.csv --activities $(SAMPLE)/activities.csv \
		--as-of $(AS_OF) --output outputs/scores.csv --force
	$(BIN)/leadscore report --output outputs/report
	@echo
	@echo "Scores:  outputs/scores.csv (rejected rows: outputs/scores.rejects.csv)"
	@echo "Report:  outputs/report/report.html (open it in a browser)"
	@echo "Top SQL leads:"; head -1 outputs/scores.csv; grep ',SQL,' outputs/scores.csv | sort -t, -k2 -r | head -3
	@echo "MLflow:  $(BIN)/mlflow ui --backend-store-uri sqlite:///$$(pwd)/mlflow.db  (then open http://127.0.0.1:5000)"

## The whole suite, integration tests included.
test: $(STAMP)
	$(BIN)/python -m pytest

## The fast subset for quick local loops.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Regenerate the committed sample (after a change to the generator).
sample: $(STAMP)
	$(BIN)/leadscore generate --out $(SAMPLE) --leads 4000 --seed 42 --now $(AS_OF)

clean:
	rm -rf $(VENV) outputs mlflow.db mlruns .pytest_cache .mypy_cache .ruff_cache
