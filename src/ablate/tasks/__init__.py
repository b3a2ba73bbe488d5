"""Task metrics: prompts with verifiable answers, scored without a judge (README "Task
metrics"). `sets` loads a task's problems, `scorers` grades a response, `evaluate` runs a
model over the tasks, `arithmetic` generates word problems that need no download."""
