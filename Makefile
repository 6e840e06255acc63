# Two commands for a new user:
#   make demo   set up, migrate, seed demo data, run the worker and the server (SQLite)
#   make test   set up and run the whole test suite (DATABASE_URL picks the database)
PYTHON ?= $(shell bin/find-python)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test venv lint check clean

$(BIN)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

venv: $(BIN)/.installed

# The logins and addresses are printed last, once the site answers; emails are written as
# readable text files, one per message, into $(DEMO_MAIL_DIR)/.
DEMO_MAIL_DIR ?= demo-mail
DEMO_ENV := DEBUG=1 STAFF_MFA_REQUIRED=0 SITE_URL=http://$(HOST):$(PORT) DEMO_MAIL_DIR=$(DEMO_MAIL_DIR)
demo: venv
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput -v 0
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo -v 0
	$(DEMO_ENV) $(BIN)/python manage.py run_demo --host $(HOST) --port $(PORT)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: venv
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles demo-mail .pytest_cache .ruff_cache .hypothesis
