"""Multi-turn evaluation (LIMA section 6; README "Dialogue and safety"): conversations of user
turns (`sets`), continued turn by turn by the fine-tuned model with its own earlier replies in
context (`continuation`), each of its turns graded in context by the chat judge (`judging`).
The stages call these through ablate.stages.dialogue."""
