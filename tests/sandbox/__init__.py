"""Tests of the embedded OpenTrain sandbox (package so helpers can be imported from conftest)."""
