"""The expression language: grammar → parser → nodes → checker → codegen → runtime."""
