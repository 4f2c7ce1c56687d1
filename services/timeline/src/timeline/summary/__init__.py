"""The patient summary (基本情報・緊急時情報, issue 16 rec1): versioned like posts, every version kept and signed."""
