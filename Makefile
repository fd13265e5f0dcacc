# ogrepository: `make run` serves a sample repository, `make test` runs every test.
GO        ?= go
BIN       := bin/ogrepository
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
TESTFLAGS ?= -count=1 -timeout 20m

.PHONY: build run test lint openapi bench deps clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ogrepository

deps:
	scripts/install-deps

run: deps build
	BIN=$(CURDIR)/$(BIN) scripts/run-dev

test: deps lint
	$(GO) test $(TESTFLAGS) ./...

lint:
	@unformatted=$$(gofmt -l cmd internal bench); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

openapi:
	$(GO) run ./cmd/ogrepository openapi > openapi/ogrepository.yaml

bench: deps build
	BENCH_BIN=$(CURDIR)/$(BIN) bench/hashing.sh

clean:
	rm -rf bin
