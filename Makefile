# Everything installs from the lockfile (uv.lock) into .venv; uv itself is bootstrapped into
# .tools/ when the machine has none, so a fresh machine needs only python3.
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

.PHONY: install run test test-unit bench clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install -q uv==$(UV_VERSION)

# Bytecode is compiled at install time: where PYTHONDONTWRITEBYTECODE is set (CI images often
# set it) Python would otherwise compile every module again in every process it starts, which
# doubled the start-up of each hookrelay process and slows every test that spawns one.
install: $(UV)
	$(UV) sync --frozen --compile-bytecode
	$(UV) run --frozen python -m compileall -q src >/dev/null

## make run: start `hookrelay dev` (SQLite + in-process broker); prints URL, API key, admin token
run: install
	$(UV) run hookrelay dev

## make test: the whole suite against PostgreSQL and Redis on localhost
test: install
	$(UV) run pytest

test-unit: install
	$(UV) run pytest tests/unit

## make bench: every benchmark scenario against local PostgreSQL + Redis (< 10 min on 2 cores);
## prints a table and writes bench/results/latest.json. BENCH_ARGS=--quick for a smoke test.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bash bench/services.sh
	$(UV) run python -m bench $(BENCH_ARGS)

clean:
	rm -rf .venv .tools hookrelay.db hookrelay.db-* .hookrelay
