# Faultline. `make run` starts the portal; `make test` runs every test.
GO       ?= go
BIN      := bin/faultline
ARGS     ?=
TESTARGS ?=

.PHONY: run test bench build generate check-generated vet labs-check content-check clean

build:
	$(GO) build -o $(BIN) ./cmd/faultline

## run: start the portal on http://localhost:8080 (Docker found or set up first)
run: build
	./scripts/ensure.sh docker
	./$(BIN) serve $(ARGS)

## test: bring up Docker and Chromium if missing, then run every test
test: check-generated vet
	./scripts/ensure.sh docker chromium
	$(GO) test -count=1 -timeout 40m $(TESTARGS) ./...
	$(GO) run ./cmd/faultline content check
	$(GO) run ./cmd/faultline labs check

## bench: each reported as a ratio against a baseline measured in the same run:
##   lesson pages rendered vs the same bytes served as a static file;
##   grading latency (submission to stored result) vs bare `go test` on the host
bench:
	$(GO) test -run '^$$' -bench LessonPage -benchtime 2000x ./web/
	./scripts/ensure.sh docker
	$(GO) test -run '^$$' -bench . -benchtime 5x -timeout 30m ./cmd/faultline/

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

content-check:
	$(GO) run ./cmd/faultline content check

clean:
	rm -rf bin
