"""The half of the contract run that lives in the SDK's virtualenv: mock server, argument synthesis, driver.

Nothing here imports conductor_regen: the SDK's venv has only the SDK, its dependencies,
openapi-core and polyfactory. Run as `python -m in_sdk_venv` with this folder's parent on PYTHONPATH.
"""
