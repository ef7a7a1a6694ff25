"""Helpers the tests share: fakes of external programs, stacks, recorded samples."""
