# sipcall: PGXS build, plus the project's own entry points
#
#   make            build the module and the install script
#   make install    install into the PostgreSQL found by pg_config
#   make demo       install what is missing, start a private cluster with
#                   sample data (see README)
#   make test       the same set-up, then every test suite
#   make bench      the benchmark against the seed design (README, "Benchmarks")
#   make fuzz       run the libFuzzer harness of the envelope parser

EXTENSION = sipcall
MODULE_big = sipcall
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
PGFILEDESC = "sipcall - call records for SIPCall"

# The install script is assembled from one fragment per concern.
SQL_PARTS = $(sort $(wildcard src/sql/*.sql))
DATA = sipcall--1.0.sql

# schema runs first: it creates the extension the other files use
REGRESS = schema $(filter-out schema,$(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql))))
ISOLATION = $(sort $(patsubst specs/%.spec,%,$(wildcard specs/*.spec)))
TAP_TESTS = 1

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lcrypto
EXTRA_CLEAN = fuzz/build

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
# On a machine that has never built sipcall, PGXS arrives with "make deps";
# until then only the targets below it (deps, demo, test, bench) can run.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

all: sipcall--1.0.sql

# Always reassembled (FORCE), so that a removed fragment is noticed too;
# rewritten only when its content changes.
sipcall--1.0.sql: FORCE
	@cat $(SQL_PARTS) > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

FORCE:

.PHONY: deps demo demo-stop test bench fuzz FORCE

deps:
	@scripts/deps.sh

demo: deps
	$(MAKE) all
	@scripts/demo.sh start

demo-stop:
	@scripts/demo.sh stop

test: deps
	$(MAKE) all
	@test/run

bench: deps
	$(MAKE) all
	@bench/run

fuzz: deps
	@fuzz/run
