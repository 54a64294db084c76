# Faultline. `make run` starts the portal; `make test` runs every test.
GO       ?= go
BIN      := bin/faultline
ARGS     ?=
TESTARGS ?=

.PHONY: run test bench build ui generate check-generated vet labs-check content-check mutate clean k8s-up k8s-down test-k8s shots-catalog

build: ui
	$(GO) build -o $(BIN) ./cmd/faultline

## ui: build the lab page's browser bundle (CodeMirror, xterm.js) from web/ui
## with npm and esbuild into web/static/bundle, which the server embeds. Pages
## work without it; `make build/run/test` build it first. npm ci runs only
## when package-lock.json changed; esbuild only when a source changed.
UI_DIR  := web/ui
UI_OUT  := web/static/bundle/lab.js web/static/bundle/lab.css web/static/bundle/terminal.js
UI_MODS := $(UI_DIR)/node_modules/.package-lock.json
UI_SRC  := $(wildcard $(UI_DIR)/src/*) $(UI_DIR)/build.mjs $(UI_DIR)/package.json

ui: $(UI_OUT)

$(UI_MODS): $(UI_DIR)/package.json $(UI_DIR)/package-lock.json
	./scripts/ensure.sh node
	cd $(UI_DIR) && npm ci --no-audit --no-fund
	@touch $@

$(UI_OUT) &: $(UI_MODS) $(UI_SRC)
	cd $(UI_DIR) && node build.mjs
	@touch $(UI_OUT)

## run: start the portal on http://localhost:8080 (Docker found or set up first)
run: build
	./scripts/ensure.sh docker
	./$(BIN) serve $(ARGS)

## test: bring up Docker and Chromium if missing, then run every test.
## The labs check grades each variant 3 times here (5 by default, and in
## make labs-check): with 17 labs, 5 runs took 30 of a fresh clone's 53
## minutes on a quiet 2-core machine.
test: ui check-generated vet
	./scripts/ensure.sh gvisor docker chromium
	$(GO) test -count=1 -timeout 40m $(TESTARGS) $$($(GO) list ./... | grep -v '/sandbox/kube$$')
	$(MAKE) --no-print-directory test-k8s
	$(GO) run ./cmd/faultline content check
	$(GO) run ./cmd/faultline labs check --runs 3

## shots-catalog: every page of TestMainPagesAtTwoSizes plus every lesson,
## case study and lab page, and each lab's result page for one of its
## hand-written mutants graded on the host (the first, in name order, of up to
## three that fails with pictures), at 1280x800 and 390x844, with its checks (no
## sideways scrolling at 390, chart labels inside their pictures, axe-core at
## 1280), the PNGs left in $$FAULTLINE_SHOTS (default /tmp/faultline-shots)
## for looking at new content by eye.
shots-catalog: ui
	./scripts/ensure.sh docker chromium
	FAULTLINE_SHOTS_CATALOG=1 $(GO) test -count=1 -timeout 45m -run '^TestMainPagesAtTwoSizes$$' ./web/

## bench: each reported as a ratio against a baseline measured in the same run:
##   lesson pages rendered vs the same bytes served as a static file;
##   the cohort dashboard (200 learners x every lab x 20 submissions) vs a lesson page,
##   both written as net/http writes to a connection (through 4 KB of bufio);
##   grading latency p50/p95 (submission to stored result) vs bare `go test` on the host;
##   grading throughput with 2 workers and a 200-submission burst vs 2 parallel host runs;
##   sandbox start p50/p95 (warm pool and cold) vs a bare create+start of the same image,
##   and warm starts while two grades run beside them; a grading run in a
##   pre-started container vs a fresh one;
##   memory of 50 idle sandboxes vs one bare container.
## Then one line per goal of issue 15 beside its measured ratio (scripts/benchgoals).
## The benchmarks run one after another, never two at once; a benchmark that
## fails makes the target fail after the goals are printed.
bench:
	./scripts/ensure.sh docker
	@{ \
	$(GO) test -run '^$$' -bench LessonPage -benchtime 2000x ./web/ ; \
	$(GO) test -run '^$$' -bench CohortDashboard -benchtime 50x ./web/ ; \
	$(GO) test -run '^$$' -bench 'Grading$$' -benchtime 5x -timeout 30m ./cmd/faultline/ ; \
	$(GO) test -run '^$$' -bench 'GradingThroughput|GradingBurst' -benchtime 1x -timeout 40m ./cmd/faultline/ ; \
	$(GO) test -run '^$$' -bench 'SandboxStart|WarmStartBusy|RunPrestarted' -benchtime 20x -timeout 20m ./sandbox/ ; \
	$(GO) test -run '^$$' -bench IdleSandboxes -benchtime 1x -timeout 20m ./sandbox/ ; \
	} 2>&1 | $(GO) run ./scripts/benchgoals

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_templ.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

generate:
	$(GO) tool templ generate

# Generated templ code is committed; fail if it drifted from the .templ sources.
check-generated:
	@$(GO) tool templ generate >/dev/null
	@if ! git diff --quiet -- '*_templ.go' || [ -n "$$(git ls-files --others --exclude-standard -- '*_templ.go')" ]; then \
		echo "templ generate changed *_templ.go files: run 'make generate' and commit them"; \
		git status --short -- '*_templ.go'; exit 1; fi

labs-check:
	$(GO) run ./cmd/faultline labs check

## mutate: mutation analysis of every lab (or LABS="slug ..."): generates
## mutants of each solution with go/ast operators, grades them all through
## the real grader in containers, and prints each lab's mutation score, the
## survivors and the hand-written mutants' verdicts. It fails below 90% or
## on a stale equivalent.yaml mark. Long (see docs/authoring.md for timings),
## so never part of `make test`.
LABS ?=
mutate:
	./scripts/ensure.sh docker
	$(GO) run ./cmd/faultline labs mutate $(LABS)

content-check:
	$(GO) run ./cmd/faultline content check

## k8s-up: a single-node Kubernetes (k3s, built from the Go module proxy once
## per machine into /var/cache/faultline/k3s, ~15 minutes the first time) and
## an image registry on 127.0.0.1:5000, for the Kubernetes backend. Prints the
## kubeconfig path; `scripts/k3s.sh env` prints the exports. k8s-down stops
## both and cleans the host; the cluster's state stays for the next k8s-up.
k8s-up:
	./scripts/ensure.sh docker
	./scripts/k3s.sh up

k8s-down:
	./scripts/k3s.sh down

## test-k8s: the Kubernetes backend's tests against the k3s of k8s-up
## (brought up first, built once per machine; stopped again afterwards when
## it was not running before), each part timed: the backend's conformance,
## grading in Pods, and the portal on -backend kubernetes (a Chromium
## learner session, a killed portal's reconciliation). `make test` runs it;
## a cluster that cannot be brought up fails it.
test-k8s: ui
	@t0=$$(date +%s); was_up=0; ./scripts/k3s.sh status >/dev/null 2>&1 && was_up=1; \
	if ! ./scripts/k3s.sh up; then echo "!!! test-k8s: k3s COULD NOT BE BROUGHT UP (see above) !!!"; exit 1; fi; \
	echo "test-k8s: k3s up in $$(( $$(date +%s) - t0 ))s"; \
	eval "$$(./scripts/k3s.sh env)"; rc=0; \
	t1=$$(date +%s); \
	$(GO) test -count=1 -timeout 30m $(TESTARGS) ./sandbox/kube/ || rc=1; \
	echo "test-k8s: sandbox/kube in $$(( $$(date +%s) - t1 ))s"; t1=$$(date +%s); \
	$(GO) test -count=1 -timeout 30m -run 'Kubernetes' $(TESTARGS) ./grader/ || rc=1; \
	echo "test-k8s: grader in $$(( $$(date +%s) - t1 ))s"; t1=$$(date +%s); \
	$(GO) test -count=1 -timeout 30m -run 'TestKubernetes' $(TESTARGS) ./cmd/faultline/ || rc=1; \
	echo "test-k8s: cmd/faultline in $$(( $$(date +%s) - t1 ))s"; \
	if [ $$was_up = 0 ]; then ./scripts/k3s.sh down >/dev/null 2>&1 || echo "test-k8s: k3s down failed"; fi; \
	echo "test-k8s: all in $$(( $$(date +%s) - t0 ))s"; exit $$rc

clean:
	rm -rf bin $(UI_OUT)
