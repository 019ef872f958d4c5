"""The simulator and the demo story, apart from the stages (no stage imports them).

- ``simulate``: a synthetic auto-loan book (applications, loans, repayment tape, scenarios).
- ``book``: generate a book and load it into the warehouse.
- ``demo``: the end-to-end demo's plan, feed and weekly table.
"""
