# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
# torch==2.13.0 is installed first so pip never pulls a CUDA build of torch.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev

.PHONY: setup demo test bench clean
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

bench: setup
	$(BIN)/python benchmarks/iteration_speed.py

clean:
	rm -rf $(VENV) out build *.egg-info src/*.egg-info
