# dromos: see /work/shared/DESIGN.md ("Real parts, and how they start").
SHELL := /bin/bash
.DEFAULT_GOAL := help

WORK_DIR ?= .dromos

.PHONY: help setup build up lint test bench clean

help:
	@echo "dromos make targets:"
	@echo "  make up      set up, build, and run a single-machine cluster (dromos up --work-dir $(WORK_DIR))"
	@echo "  make test    set up, type-check and build, lint, then run the tests (extra filters: make test ARGS='src/core')"
	@echo "  make lint    run ESLint (promises, type imports, import cycles, process boundaries)"
	@echo "  make setup   install missing system packages and npm dependencies, start dockerd"
	@echo "  make build   compile TypeScript to dist/ and build the web UI to web/dist/"
	@echo "  make bench   set up, build, and run every benchmark in dist/bench/"
	@echo "  make clean   remove dist/ and web/dist/ (the cluster state in $(WORK_DIR)/ is kept: rm -rf it yourself)"

setup:
	@scripts/setup.sh

build:
	npm run build

up: setup build
	exec bin/dromos up --work-dir $(WORK_DIR)

# Cross-process tests spawn bin/dromos, which runs dist/src/cli/main.js and serves web/dist:
# build both before testing.
test: setup
	npx tsc -p tsconfig.json
	npm run build:web
	npx eslint .
	node scripts/run-tests.mjs $(ARGS)

lint:
	npx eslint .

bench: setup build
	@set -e; found=0; \
	for f in dist/bench/*.js; do \
	  [ -e "$$f" ] || continue; \
	  found=1; echo "bench: $$f"; node "$$f"; \
	done; \
	if [ "$$found" = 0 ]; then echo "bench: no benchmarks in dist/bench/"; fi

clean:
	rm -rf dist web/dist
