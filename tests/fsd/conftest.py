import os

# tblite's OpenMP threads thrash on a busy 2-core machine; one thread is fast for small systems
os.environ.setdefault("OMP_NUM_THREADS", "1")
