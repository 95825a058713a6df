"""Pure domain of gongkai: the working-day calendar, deadline clocks, periods and the catalog.

Nothing in this package touches a database, the network or the system clock; every
function that depends on "now" takes it as the keyword-only argument ``at``.
"""
