# safetynet: the two commands of README.md are `make demo` and `make test`.
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
DEMO := demo
BENCH_ARGS ?=
# The economic-status reports embed a Chinese TrueType font (safetynet/pdf.py); Debian's package.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
# ... and, for the rare characters of names it lacks (CJK Extensions B-F), Debian's fonts-hanazono.
CJK_FALLBACK := /usr/share/fonts/truetype/hanazono
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install font postgresql redis chromium libreoffice demo portal check test lint format docs bench bench-field clean

install: $(VENV)/.installed font

font:
	@if [ -z "$$SAFETYNET_CJK_FONT" ] && [ ! -f $(CJK_FONT) ]; then \
		echo "installing Debian's fonts-wqy-zenhei (embedded in the PDF reports)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-wqy-zenhei >/dev/null; \
	fi
	@if [ ! -f $(CJK_FALLBACK)/HanaMinA.ttf ] || [ ! -f $(CJK_FALLBACK)/HanaMinB.ttf ]; then \
		echo "installing Debian's fonts-hanazono (rare characters of names in the PDF reports)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-hanazono >/dev/null; \
	fi

# tests/test_services.py runs the DAG under Airflow's services on PostgreSQL (Debian's package).
postgresql:
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing Debian's postgresql (Airflow's metadata database in the real-service test)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; \
	fi

# ... with the CeleryExecutor, Redis (Debian's package) as its broker.
redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		echo "installing Debian's redis-server (the Celery broker in the real-service test)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; \
	fi

# tests/test_portal_browser.py and tests/test_clerk_month.py drive Debian's chromium with Playwright,
# launched by its path.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing Debian's chromium (the portal's browser test)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	fi

# tests/test_print.py prints the lists with Debian's LibreOffice (headless Calc), Carlito standing in
# for Calibri's metrics as Excel and WPS lay the columns out.
libreoffice:
	@if ! command -v soffice >/dev/null 2>&1 || ! fc-list | grep -q Carlito; then \
		echo "installing Debian's libreoffice-calc-nogui and fonts-crosextra-carlito (the lists' print test)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libreoffice-calc-nogui fonts-crosextra-carlito >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	UV_COMPILE_BYTECODE=1 $(UV) sync --frozen --python $(PYTHON)
	touch $@

# Three synthetic months through the real monthly DAG (embedded Airflow, SQLite, local DuckDB); each
# later month's `outcomes` delivery reports the townships' home visits of the month before's leads, its
# decision log their proposals and the county's approvals, and its roster the decisions approved
# (synthetic/decisions.py); October shows 未落实 (a decision is due within two months of its approval).
demo: install
	rm -rf $(DEMO)
	$(VENV)/bin/safetynet generate --month 2026-08 --households 5000 --seed 1 --landing $(DEMO)/landing
	$(VENV)/bin/safetynet run --month 2026-08 --landing $(DEMO)/landing --home $(DEMO)/home
	$(VENV)/bin/safetynet generate --month 2026-09 --households 5000 --seed 1 --landing $(DEMO)/landing --home $(DEMO)/home
	$(VENV)/bin/safetynet run --month 2026-09 --landing $(DEMO)/landing --home $(DEMO)/home
	$(VENV)/bin/safetynet generate --month 2026-10 --households 5000 --seed 1 --landing $(DEMO)/landing --home $(DEMO)/home
	$(VENV)/bin/safetynet run --month 2026-10 --landing $(DEMO)/landing --home $(DEMO)/home
	$(VENV)/bin/safetynet query --home $(DEMO)/home "select month, status, build, commit, rows_delivered, accepted, quarantined from v_runs order by month"
	$(VENV)/bin/safetynet query --home $(DEMO)/home "select month, level, count(*) as leads, count(*) filter (where pushed) as pushed from v_leads group by all order by all"
	$(VENV)/bin/safetynet query --home $(DEMO)/home "select month, direction, count(distinct household_id) as households from v_doubtful_records group by all order by all"
	$(VENV)/bin/safetynet query --home $(DEMO)/home "select month, kind, state, count(*) as cases from v_cases group by all order by all"
	$(VENV)/bin/safetynet query --home $(DEMO)/home "select month, kind, pushed, listed, visited, overdue, median_days_to_visit from v_kpis where area_level = 'province' order by all"
	$(VENV)/bin/safetynet query --home $(DEMO)/home "select month, step, count(*) as steps from v_decisions group by all order by all"
	$(VENV)/bin/safetynet query --home $(DEMO)/home "select month, leads, visited, proposed, approved, confirmed, unconfirmed, median_days_to_visit, median_days_visit_to_proposal, median_days_proposal_to_approval, median_days_approval_to_confirmation, urgent_recipient_cases, urgent_helped_in_time, urgent_helped_share from v_assistance_funnel where area_level = 'province' order by all"
	@echo "results: $(DEMO)/home (lake/, warehouse/safetynet.duckdb, reports/<month>/validation.html, exports/<month>/<county>/<township>/)"
	@first=$$(ls -d $(DEMO)/home/exports/2026-09/[0-9]*/* | head -1); echo "one township's files, $$first:"; ls $$first
	@for m in 2026-08 2026-09 2026-10; do echo "cross-region requests out, $$m:"; wc -l $(DEMO)/home/exports/$$m/_cross_region/outgoing/*.csv; done
	@echo "cross-region answers in:"; wc -l $(DEMO)/landing/2026-*/cross_region_answers.csv
	@echo "household reports (PDF) in all townships, drawn when asked for: $$(cat $(DEMO)/home/exports/2026-09/*/*/manifest.json | grep -c '"kind": "report"')"
	@first=$$(basename $$(ls -d $(DEMO)/home/exports/2026-09/[0-9]*/* | head -1)); \
		$(VENV)/bin/safetynet documents --month 2026-09 --home $(DEMO)/home --township $$first
	@echo "decisions for the business system: $$(ls $(DEMO)/home/exports/*/_decisions/decisions.csv)"
	@echo "county overviews (offline HTML): $$(ls $(DEMO)/home/reports/2026-09/overview/*.html)"

# The township portal on the demo's home: prints demo accounts (new passwords on every start).
portal: install
	@test -d $(DEMO)/home/current || { echo "no demo yet: run make demo first"; exit 2; }
	$(VENV)/bin/safetynet serve --home $(DEMO)/home --landing $(DEMO)/landing --demo-accounts $(PORTAL_ARGS)

# The tests run on two processes (pytest-xdist); PYTEST_WORKERS=0 runs them in this one.
PYTEST_WORKERS ?= 2

# The fast tier for the inner loop: no services, no browser, no whole months (pyproject.toml markers),
# so none of the system packages below.
check: install
	$(VENV)/bin/python -m pytest -m "not slow and not services and not browser" -n $(PYTEST_WORKERS)

# Everything, as CI runs it. A module's tests stay on one process, so its module fixtures are built
# once; the longest modules start first (tests/conftest.py). The real-service test runs beside them
# in a process of its own, so that its minutes overlap theirs; its output is kept in $(SERVICES_LOG)
# and shown after theirs (tests/test_services.py's `rules` says what made it fail on a busy
# machine, and why its sensor now looks every 15 s). Interrupted, it is sent SIGTERM, which the
# test takes as an interrupt and stops its services.
SERVICES_LOG := .pytest-services.log
test: install postgresql redis chromium libreoffice
	@$(VENV)/bin/python -m pytest -m services -p no:cacheprovider >$(SERVICES_LOG) 2>&1 & services=$$!; \
	trap 'kill $$services 2>/dev/null; wait $$services; exit 130' INT TERM; \
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not services"; \
	rest=$$?; wait $$services; real=$$?; \
	echo "--- the real-service test (tests/test_services.py), run beside the rest:"; cat $(SERVICES_LOG); \
	[ $$rest -eq 0 ] && [ $$real -eq 0 ]

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The manual (docs/, MkDocs Material) built offline into site/: the references are generated first
# (docs/gen.py); --strict fails on a broken link or a page left out of mkdocs.yml's nav.
docs: install
	$(VENV)/bin/python docs/gen.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Province scale by default (2 M households); smaller with BENCH_ARGS="--households 200000".
# Then the field-like world scored against its truth (bench-field).
bench: install
	$(VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)
	$(MAKE) bench-field

# The field-like world (3,000 households, three months) through `safetynet run`, scored against its
# truth, the townships visiting between runs: need recall, lead precision, 应退, visits per township, queue,
# outcomes returned (.bench/field.json);
# FIELD_ARGS="--households 10000 --no-history" for other sizes and without the year of history.
FIELD_ARGS ?=
bench-field: install
	$(VENV)/bin/python benchmarks/field_bench.py $(FIELD_ARGS)

clean:
	rm -rf $(DEMO) .bench site .pytest_cache .ruff_cache $(SERVICES_LOG)
