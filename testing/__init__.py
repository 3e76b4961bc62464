"""Test helpers for code that uses petcd: a pytest plugin with throwaway members."""
