"""What is published upward and when: the 双公示 publicity policy (editions, tiers, windows, due dates),
the windows on the facts and the transactional outbox the load writes in its own transaction.

It sits below both the load (etl.load), which writes a fact and its upward duty together, and the delivery
(etl.publish), which sends what the outbox holds and records the receipts; neither imports the other.
"""
