# The two set-up commands of the README are `make demo` and `make test`;
# each creates .venv and installs everything it needs, with no prompts.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export XLA_FLAGS ?= --xla_force_host_platform_device_count=8
export PIP_DISABLE_PIP_VERSION_CHECK := 1
APT := DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: demo test bench lint venv clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[solvers,service,postgres,executor,report,ray,dev]'
	touch $(STAMP)

venv: $(STAMP)

# A test renders the HTML report in headless Chromium. Install it when we can
# (root with apt-get); otherwise that test is skipped with its reason.
browser:
	-@command -v chromium >/dev/null 2>&1 || \
	  { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 && \
	    { $(APT) install -y -q chromium || { $(APT) update -q && $(APT) install -y -q chromium; }; } \
	    >/dev/null 2>&1; } || \
	  echo "chromium is not installed: the report browser test will be skipped"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

demo: $(STAMP)
	$(BIN)/meshplan demo

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy planner api store executor wire bench harness
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .grimp_cache .import_linter_cache
