"""Build the compiled core.  Everything else lives in pyproject.toml.

ENGINE_DEBUG=1 builds with Cython annotations and line tracing (for profiling);
the default build is optimised (-O2) with bounds checks left on except where a
function proves its own bounds.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("ENGINE_DEBUG") == "1"

extensions = [
    Extension(
        "engine._core",
        ["engine/_core.pyx"],
        extra_compile_args=["-O2"] if not debug else ["-O0", "-g"],
        define_macros=[("CYTHON_TRACE", "1")] if debug else [],
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        annotate=debug,
        compiler_directives={
            "language_level": 3,
            "embedsignature": True,
            "linetrace": debug,
        },
    )
)
