"""The lab: what development and measurement need and the box never does. Generated calls
with known truth (`gencall`, `synth`), the benches that need a broker or a store
(`bench_mqtt`, `bench_store`), test rigs (`testbroker`, `testdb`, `testproc`, `synthetic`,
`simulate`), keyword evaluation (`kws_evaluate`, `eval_kws`, `manifest`, `linesim`) and the
accuracy scripts (`eval_raised`, `eval_agitation`, `talk_time_error`)."""
