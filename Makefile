# flyfit: one build for the library, the programs, the tests and the benchmarks.
#
#   make              build bin/flyfit, bin/flyfit-partition, bin/flyfit-import, bin/flyfit-synth (and the library)
#   make demo         install missing Debian packages, build, make the synthetic brain, simulate it
#   make check        build and run all tests; ends with "N passed, N failed"
#   make check-slurm  the SLURM job scripts (jobs/*.sbatch) on a one-node SLURM cluster started for the
#                     test (root; tools/install-deps.sh installs SLURM); ends with "N passed, N failed"
#   make check SAN=1  the unit tests and a 1-3 rank integration subset (SAN_TESTS: simulate, a small fit,
#                     partition, import, config lines, the collective modules on 2 and 3 ranks) built with
#                     AddressSanitizer + UndefinedBehaviorSanitizer into build/san; any report fails the
#                     test (reports in build/san/test-logs/san-reports/). .ci/run runs it: it took 5.7 min of
#                     CPU (2.5 user + 3.2 system, mostly MPI ranks polling) for 229 checks, so about 3-6 min
#                     of wall time on 2 idle cores (20 min on the shared 2-core machine at load 15),
#                     and its build another 1-2 min
#   make bench        benchmarks (results to stdout and build/bench/*.csv)
#   make bench-gpu    the CUDA backend's benchmark (skipped, saying so, without a GPU)
#   make fuzz         fuzz the input readers (INI, CSV, npz, HDF5) with clang's libFuzzer + ASan/UBSan,
#                     FUZZ_SECONDS=120 each (FUZZ_TARGETS to pick some); new crashes go to
#                     build/fuzz/crashes/<target>/ (tests/fuzz/README.md)
#
# Switches:  CUDA=auto|0|1   compile the CUDA sources (src/*/cuda) with nvcc (auto: when nvcc exists)
#            NCCL=auto|0|1   link NCCL (auto: when nccl.h is found next to CUDA)
#            OPT=-O2         optimisation flags
#            CUDA_ARCH="80 90"  the GPU architectures nvcc compiles for (sm_80 = A100, sm_90 = H100)
#            NP=2            MPI ranks for demo
#            SAN=1           build into build/san (programs in build/san/bin) with AddressSanitizer and
#                            UndefinedBehaviorSanitizer, CUDA off (make check SAN=1 above)
#            CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS, NVCCFLAGS (command line or environment): added after
#                            the project's own flags, never replacing them (make CFLAGS=-march=native)

CC      := mpicc
OPT     ?= -O2
CUDA    ?= auto
NCCL    ?= auto
NP      ?= 2
SAN     ?= 0
CUDA_ARCH ?= 80 90
# the user's flags: they follow the project's (FF_*), so they add to them and can override a choice
# such as -O2, but the required ones (-std=c11, -ffp-contract=off, -fno-trapping-math, the include paths) stay
CFLAGS    ?=
CPPFLAGS  ?=
LDFLAGS   ?=
LDLIBS    ?=
NVCCFLAGS ?=

PKGS        := hdf5-openmpi inih zlib libzip openblas lapacke nlopt
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# -ffp-contract=off: no fused multiply-add, so per-neuron arithmetic gives the same bits as the
# CUDA kernels (built with --fmad=false) and as itself under any compiler choice.
# -fno-trapping-math: flyfit never traps on floating-point exceptions, so the compiler may compute
# both sides of a select and keep one (round 1's SIMD lanes, src/fit/fit_steps.c); no value changes.
FF_CFLAGS := -std=c11 $(OPT) -g -Wall -Wextra -Werror -ffp-contract=off -fno-trapping-math -fopenmp -fno-strict-aliasing \
             -Iinclude $(PKG_CFLAGS) -D_POSIX_C_SOURCE=200809L
FF_LDLIBS := $(PKG_LIBS) -lcsv -lmetis -lm -fopenmp
# the fuzzing build (make fuzz) takes these before CUDA adds to them: it runs without CUDA
FUZZ_CFLAGS := $(filter-out $(OPT),$(FF_CFLAGS))
FUZZ_LDLIBS := $(FF_LDLIBS)

# ---- where a build goes: build/ and bin/, or build/san/ with SAN=1 -------------------------------
# The sanitizer build: ASan + UBSan (every UB report fatal), -O1, no CUDA (nvcc does not take the
# flags, and no sanitizer sees inside a kernel), its own objects so that a normal build is untouched.
B       := build
BIN_DIR := bin
ifeq ($(SAN),1)
  B         := build/san
  BIN_DIR   := build/san/bin
  SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
  # -Werror is the normal build's job: at -O1 gcc's truncation analysis warns of other things
  FF_CFLAGS := $(filter-out $(OPT) -Werror,$(FF_CFLAGS)) -O1 $(SAN_FLAGS)
  FF_LDLIBS += $(SAN_FLAGS)
endif

# ---- CUDA / NCCL detection ---------------------------------------------------------------------
NVCC_FOUND := $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard /usr/local/cuda/bin/nvcc))
ifeq ($(SAN),1)
  CUDA_ON := 0
else ifeq ($(CUDA),auto)
  CUDA_ON := $(if $(NVCC_FOUND),1,0)
else
  CUDA_ON := $(CUDA)
endif
ifeq ($(CUDA_ON),1)
  ifeq ($(NVCC_FOUND),)
    $(error CUDA=1 but nvcc was not found; install the CUDA toolkit or build with CUDA=0)
  endif
  NVCC      := $(NVCC_FOUND)
  # Ask nvcc where its toolkit lives: the nvcc found first on PATH may be a wrapper script
  # (/usr/local/bin/nvcc on some machines), whose directory holds no libraries.
  CUDA_HOME ?= $(realpath $(shell $(NVCC) --dryrun -c -x cu /dev/null -o /dev/null 2>&1 | sed -n 's/^\#\$$ TOP=//p'))
  CUDA_LIBDIR := $(firstword $(wildcard $(CUDA_HOME)/lib64/libcudart.so $(CUDA_HOME)/targets/*/lib/libcudart.so))
  ifeq ($(CUDA_LIBDIR),)
    $(error CUDA: nvcc is $(NVCC) but libcudart.so was not found under '$(CUDA_HOME)'; set CUDA_HOME=/path/to/cuda or build with CUDA=0)
  endif
  CUDA_LIBDIR := $(patsubst %/,%,$(dir $(CUDA_LIBDIR)))
  NVCC_VER  := $(shell $(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
  NCCL_HDR  := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
  ifeq ($(NCCL),auto)
    NCCL_ON := $(if $(NCCL_HDR),1,0)
  else
    NCCL_ON := $(NCCL)
  endif
  NVFLAGS := -O2 -std=c++17 --fmad=false -Iinclude $(filter -I%,$(PKG_CFLAGS)) -DFF_HAVE_CUDA \
             $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
             -Xcompiler -Wall,-Wextra,-Werror
  FF_CFLAGS += -DFF_HAVE_CUDA
  FF_LDLIBS += -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcudart -lcusparse -lstdc++
  ifeq ($(NCCL_ON),1)
    FF_CFLAGS += -DFF_HAVE_NCCL
    NVFLAGS   += -DFF_HAVE_NCCL
    FF_LDLIBS += -lnccl
  endif
else
  NCCL_ON := 0
endif

comma := ,
ifeq ($(MAKELEVEL),0)
  $(info flyfit build: CC=$(CC) ($(shell $(CC) -dumpversion 2>/dev/null)), libraries ($(PKGS)): $(if $(PKG_LIBS),yes,MISSING - run tools/install-deps.sh), \
    CUDA: $(if $(filter 1,$(CUDA_ON)),on (nvcc $(NVCC_VER), $(CUDA_ARCH:%=sm_%)),off), NCCL: $(if $(filter 1,$(NCCL_ON)),on,off)$(if \
    $(filter 1,$(SAN)),$(comma) sanitizers: ASan+UBSan into $(B)))
endif

# the flags every compile and link uses: the project's, then the user's
ALL_CFLAGS  = $(FF_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDLIBS  = $(FF_LDLIBS) $(LDLIBS)

# ---- sources -----------------------------------------------------------------------------------
# the library: every stage of the pipeline under src/ (core, io, data, partition, sim, fit); the
# programs' main()s under apps/, one file each
LIB_SRC  := $(sort $(wildcard src/*/*.c))
CU_SRC   := $(if $(filter 1,$(CUDA_ON)),$(sort $(wildcard src/*/cuda/*.cu)))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o) $(CU_SRC:%.cu=$(B)/%.o)
LIB      := $(B)/libflyfit.a

PROGS    := $(patsubst apps/%.c,$(BIN_DIR)/%,$(sort $(wildcard apps/*.c)))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TESTS    := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_HELPERS := $(patsubst tests/helpers/%.c,$(B)/tests/%,$(sort $(wildcard tests/helpers/*.c)))
# fuzzing harnesses (tests/fuzz/fuzz_*.c), built with tests/fuzz/replay.c for make check
FUZZ_TARGETS ?= config csv npz connectome activity checkpoint
TEST_HELPERS += $(patsubst tests/fuzz/%.c,$(B)/tests/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

.PHONY: all check check-slurm demo evaluate bench bench-gpu fuzz clean install-deps
# Keep the programs' object files: make would otherwise delete them as intermediates and rebuild
# them on the next call.
.SECONDARY:
all: $(PROGS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) $(NVCCFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN_DIR)/%: $(B)/apps/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(ALL_LDLIBS) -o $@

# bin/flyfit-h5check exists to catch libhdf5's memory errors on a damaged file (apps/flyfit-h5check.c):
# it runs under AddressSanitizer in every build where the compiler has it, and needs only libhdf5
H5CHECK_SAN := $(shell echo 'int main(void) { return 0; }' | $(CC) -x c -fsanitize=address - -o /dev/null \
                 2>/dev/null && echo -fsanitize=address -fno-omit-frame-pointer)
$(BIN_DIR)/flyfit-h5check: apps/flyfit-h5check.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fopenmp,$(ALL_CFLAGS)) $(H5CHECK_SAN) $(LDFLAGS) $< $(PKG_LIBS) $(H5CHECK_SAN) -o $@

$(B)/tests/test_%: tests/unit/test_%.c tests/helpers/testutil.h $(wildcard tests/unit/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/helpers $(LDFLAGS) $< $(LIB) $(ALL_LDLIBS) $(shell pkg-config --libs cmocka) -o $@

# test drivers run by the integration scripts (tests/helpers/*.c, one program each)
$(B)/tests/%: tests/helpers/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< $(LIB) $(ALL_LDLIBS) -o $@

$(B)/tests/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $< tests/fuzz/replay.c $(LIB) $(ALL_LDLIBS) -o $@

# the disk-full shim of tests/integration/disk_full.sh, for machines where a tmpfs cannot be mounted
TEST_HELPERS += $(B)/tests/libenospc.so
$(B)/tests/libenospc.so: tests/shim/enospc.c
	@mkdir -p $(dir $@)
	gcc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC $< -o $@ -ldl

ifeq ($(SAN),1)
# the sanitizer run: every unit test, and the integration scripts of SAN_TESTS (each a name pattern
# of tests/run.sh) on the sanitized programs; any ASan, LSan or UBSan report is a failure
# (tests/run.sh finds them in build/san/test-logs/san/). Leaks inside Open MPI and HDF5 are
# suppressed (tests/fuzz/lsan.supp), never flyfit's.
SAN_TESTS ?= test_ unit_ranks partition sim_closed_form synth_roundtrip import_errors config_lines fit_small
check: $(PROGS) $(TESTS) $(TEST_HELPERS)
	@FLYFIT_BUILD=$(B) FLYFIT_BIN=$(BIN_DIR) FLYFIT_SAN=1 tests/run.sh $(SAN_TESTS)
else
check: $(PROGS) $(TESTS) $(TEST_HELPERS)
	@tests/run.sh
endif

# the job scripts under a real SLURM (tests/slurm/run.sh; 1-3 minutes on 2 cores)
check-slurm: $(PROGS)
	@tests/slurm/run.sh

demo:
	@tools/install-deps.sh
	@$(MAKE) --no-print-directory all
	@COMPAT=$(COMPAT) tools/demo.sh $(NP)

# the evaluation table: 5 seeds x (the fit on a synthetic brain, the same on its shuffled twin), ~30
# minutes on 2 cores (tools/evaluate); make evaluate NP=4 SEEDS="1 2 3"
evaluate: $(PROGS)
	@tools/evaluate $(if $(NP),--np $(NP)) $(if $(SEEDS),--seeds "$(SEEDS)")

bench: $(PROGS)
	@bench/run.sh

# the CUDA backend against the CPU backend on the full-size brain; says SKIPPED without a GPU
bench-gpu: $(PROGS)
	@bench/run.sh gpu

install-deps:
	@tools/install-deps.sh

# ---- fuzzing: the library again, with clang, libFuzzer's coverage and ASan/UBSan, without CUDA ----
FUZZ_SECONDS ?= 120
FUZZ_CC      := OMPI_CC=clang mpicc
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  += -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_OBJ     := $(LIB_SRC:%.c=build/fuzz/%.o)
FUZZ_LIB     := build/fuzz/libflyfit.a

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_LIB): $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) $< $(FUZZ_LIB) $(FUZZ_LDLIBS) $(LDLIBS) -o $@

fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# The version string goes into bin/flyfit only, so that a commit does not rebuild the library.
$(B)/apps/flyfit.o: FF_CFLAGS += -DFF_VERSION='"$(shell git describe --always --dirty 2>/dev/null || echo unknown)"'

# docs/config.md, the configuration reference, from the key table (tests/integration/docs.sh checks it)
.PHONY: docs
docs: bin/flyfit
	tools/gen-config-doc bin/flyfit > docs/config.md.tmp && mv docs/config.md.tmp docs/config.md
