"""Suspensions of users and facilities (I8, I9): the contractor's emergency reports, reinstatement."""
