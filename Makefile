# sipcall: PGXS build, plus the project's own entry points
#
#   make            build the module and the install script
#   make install    install into the PostgreSQL found by pg_config
#   make demo       install what is missing, start a private cluster with
#                   sample data (see README)
#   make test       the same set-up, then every test suite
#   make bench      the benchmark against the seed design (README, "Benchmarks")
#   make fuzz       run the libFuzzer harness of the envelope parser

# The source tree: this folder, or VPATH when pg_buildext builds in a
# folder of its own per PostgreSQL version (build-15/, ...).
top := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
# lists of the source tree's files, as paths relative to it
src_files = $(patsubst $(top)%,%,$(sort $(wildcard $(addprefix $(top),$(1)))))

EXTENSION = sipcall
MODULE_big = sipcall
OBJS = $(patsubst %.c,%.o,$(call src_files,src/*.c))
PGFILEDESC = "sipcall - call records for SIPCall"

# Versions.  Every released version's install script is frozen in git and
# never edited again; each change after it ships as an upgrade script
# sipcall--OLD--NEW.sql.  The install script of the newest version is
# assembled from one fragment per concern (src/sql/*.sql); the upgrade test
# (test/t/005_upgrade.pl) proves that each released version, updated,
# equals that fresh install.
EXTVERSION = $(shell sed -n "s/^default_version *= *'\\(.*\\)'/\\1/p" $(top)sipcall.control)
SQL_PARTS = $(addprefix $(top),$(call src_files,src/sql/*.sql))
DATA = $(filter-out sipcall--$(EXTVERSION).sql,$(call src_files,sipcall--*.sql))
DATA_built = sipcall--$(EXTVERSION).sql
EXTRA_CLEAN = sipcall--$(EXTVERSION).sql fuzz/build tmp_regress tmp_isolation output_iso

# The test lists, for stock "make installcheck" (as pg_buildext runs it,
# each suite in a temporary instance of the installed PostgreSQL) and for
# test/run (make test), which reads them with "make test-lists".
# schema runs first: it creates the extension the other files use.
REGRESS = schema $(filter-out schema,$(patsubst sql/%.sql,%,$(call src_files,sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_regress --temp-config=$(srcdir)/test/regress.conf
ISOLATION = $(patsubst specs/%.spec,%,$(call src_files,specs/*.spec))
ISOLATION_OPTS = --temp-instance=./tmp_isolation --temp-config=$(srcdir)/test/isolation.conf
TAP_TESTS = 1
PROVE_TESTS = $(call src_files,test/t/*.pl)

# CI=true (as .ci/run sets it) turns every warning into an error.  -Wextra
# is kept but for unused parameters: PostgreSQL's own headers have them
# (fmgr.h, lib/ilist.h, storage/bufpage.h inline functions), and so does
# every callback whose signature PostgreSQL fixes (shmem_exit, syscache
# and transaction callbacks).
ifeq ($(CI),true)
COPT += -Wall -Wextra -Wno-unused-parameter -Werror
endif

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
# On a machine that has never built sipcall, PGXS arrives with "make deps";
# until then only the targets below it (deps, demo, test, bench) can run.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
# after PGXS, which sets PROVE_FLAGS: the TAP tests' shared module
PROVE_FLAGS += -I $(srcdir)/test
endif

# a build folder of its own (VPATH) needs the source tree's subfolders
ifdef VPATH
$(shell mkdir -p src)
endif

all: sipcall--$(EXTVERSION).sql

# Always reassembled (FORCE), so that a removed fragment is noticed too;
# rewritten only when its content changes.
sipcall--$(EXTVERSION).sql: FORCE
	@cat $(SQL_PARTS) > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

FORCE:

.PHONY: deps demo demo-stop test test-lists bench fuzz deb dist FORCE

# the lists test/run drives, one per line: "regress name...", ...
test-lists:
	@echo "regress $(REGRESS)"
	@echo "isolation $(ISOLATION)"
	@echo "tap $(notdir $(basename $(PROVE_TESTS)))"

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

# the Debian package postgresql-15-sipcall, in build/deb (scripts/deb.sh)
deb: deps
	@scripts/deb.sh

# a PGXN release archive of HEAD, sipcall-X.Y.Z.zip, after checking that
# META.json names this version (default_version of sipcall.control) and
# files that exist
dist:
	@scripts/dist.sh

bench: deps
	$(MAKE) all
	@bench/run

fuzz: deps
	@fuzz/run
