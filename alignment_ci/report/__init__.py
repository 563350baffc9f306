"""Rendering: jinja2 templates to Markdown and HTML. Renders what it is handed; imports no pipeline stage."""
