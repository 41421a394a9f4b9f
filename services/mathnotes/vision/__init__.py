"""The vision API: photos of math notes in, Markdown + LaTeX out."""
