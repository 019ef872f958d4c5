"""The simulator and the demo story, apart from the stages (no stage imports them).

- ``simulate``: a synthetic auto-loan book (applications, loans, repayment tape, scenarios): the
  model's documentation, the ground truth, booking, scenarios and ``simulate_book``; it re-exports
  ``fraud_dealers`` and ``annuity_payment``.
- ``applicants``: dealers, application times, applicant and bureau, vehicle and loan terms.
- ``tape``: outcomes (default, prepayment, transient delinquencies) and the repayment tape.
- ``draws``: the shared random streams, id and label helpers and small types (imports no other
  simulator module; ``simulate`` imports the parts, the parts never import ``simulate``).
- ``book``: generate a book and load it into the warehouse.
- ``demo``: the end-to-end demo's plan, feed and weekly table.
"""
