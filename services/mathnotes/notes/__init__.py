"""The notes library: every analysed page kept and searchable by words, formula and meaning (issue 16)."""
