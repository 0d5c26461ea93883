"""Browser tests of the JupyterLab extension.

The folder is a package so that its conftest.py does not shadow tests/conftest.py.
"""
