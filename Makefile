# make demo   check the bundled examples, build the sitcom, print its cost, render it against
#             the local simulator and print the path of film.mp4 (creates .venv on first use)
# make test   run the whole test suite
# make bench  time klingc check against a feature-length script

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

# The environment is (re)installed only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/klingc check examples/*.kls examples/series/*.kls
	$(BIN)/klingc build examples/sitcom_coffee_shop.kls -o build/sitcom_coffee_shop
	$(BIN)/klingc cost examples/sitcom_coffee_shop.kls
	@echo "paste-ready prompts: build/sitcom_coffee_shop/prompts/ (or: klingc prompt examples/sitcom_coffee_shop.kls)"
	$(BIN)/klingc render examples/sitcom_coffee_shop.kls --simulate

test: $(VENV)/.installed
	$(BIN)/pytest

bench: $(VENV)/.installed
	$(BIN)/python bench/run.py

clean:
	rm -rf build render dist bench/out .pytest_cache
