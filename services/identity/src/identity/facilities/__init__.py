"""Member facilities (I1, I5, I6, I9): the application and its review, profile changes, withdrawal, abolition."""
