"""Monthly bulletin and year-end compilation: SQL aggregates → official tables → files.

Entry points:

- :func:`reports.compile.compile_year` → :class:`reports.model.YearReport` (one agency, or
  the whole 本级政府 with a comparison of its agencies; locked years as filed);
- :func:`reports.bulletin.compile_month` → :class:`reports.model.Bulletin`, and
  :func:`reports.bulletin.bulletin_message` for the office's chat;
- :func:`reports.render.render_year` / :func:`reports.render.render_month` → json, html,
  xlsx or docx bytes;
- :func:`reports.lock.lock_year` freezes a published year.

Modules, one concept each: ``scope`` (agencies and date windows), ``feeds`` (which tasks
feed which statistic), ``sql`` (query helpers), ``stats`` (timeliness), ``table2``,
``table3``, ``table4``, ``channels`` (publication channels), ``sentences``, ``compile``,
``archive`` (the stored form of a lock), ``lock``, ``bulletin``, ``model`` (the report as
data), ``grid`` and ``layout`` (the tables as renderers see them), ``outline`` (sections
一 … 六), ``charts``, ``render`` and ``render_html`` / ``render_docx`` / ``render_xlsx``.
"""
