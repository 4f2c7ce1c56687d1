"""Who may reach a subject's timeline or a group: the consent projection, boards and the need-to-know check."""
