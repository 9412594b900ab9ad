// libtorch's default RNG (dropout, randn without a Generator) and its thread pool are process-wide:
// tests that check bit-exact resume or seeded runs must not interleave with other torch tests.
// Intra-op threads already use both cores, so running test classes one at a time costs little.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
