"""This package's version; the build backend reads it and a test checks it against meson.build."""
__version__ = "0.1.0"
