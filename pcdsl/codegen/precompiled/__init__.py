"""The templates of ../templates compiled by Jinja ahead of time (scripts/regenerate.py), so
that compiling a spec does not compile its template first. Used only while each matches its
template and the installed Jinja (pcdsl.codegen.emit.template)."""
