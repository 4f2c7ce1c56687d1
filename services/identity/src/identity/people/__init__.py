"""People: who each user is as the network shows them (name, kana, profession, facility), its events and the staff directory."""
