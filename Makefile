# Set-up on a fresh machine is part of `make demo` and `make test` (`make test-export` builds its own venv).
# torch==2.13.0 is installed first so pip never pulls a CUDA build of torch.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev

# The export converters (LiteRT, Core ML) live in their own venv: beside the dev extra's tensorflow,
# pip's resolver backtracked for over 13 minutes; alone they install in ~75 s.
EXPORT_VENV ?= .venv-export

.PHONY: setup demo test test-export bench clean
setup: $(VENV)/.installed-$(EXTRAS)

$(VENV)/.installed-$(EXTRAS): pyproject.toml $(wildcard deps/apt/*.txt) $(wildcard deps/npm/*.txt)
	bash deps/install-apt.sh
	bash deps/install-npm.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	mkdir -p out
	$(BIN)/brushwork stylize examples/astronaut.jpg examples/strokes.png -o out/demo.png

test: setup
	$(BIN)/python -m pytest -q

# The ONNX, LiteRT and Core ML export tests with the converters installed (skipped by `make test`);
# here a missing converter fails instead of skipping.
test-export: $(EXPORT_VENV)/.installed
	BRUSHWORK_EXPORT_TESTS=1 $(EXPORT_VENV)/bin/python -m pytest -q tests/fast/test_export.py tests/fast/test_coarse.py

$(EXPORT_VENV)/.installed: pyproject.toml
	test -x $(EXPORT_VENV)/bin/python || $(PYTHON) -m venv $(EXPORT_VENV)
	$(EXPORT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EXPORT_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(EXPORT_VENV)/bin/python -m pip install --quiet -e ".[export]" pytest pytest-timeout torch==2.13.0
	touch $@

bench: setup
	$(BIN)/python benchmarks/iteration_speed.py

clean:
	rm -rf $(VENV) $(EXPORT_VENV) out build *.egg-info src/*.egg-info
