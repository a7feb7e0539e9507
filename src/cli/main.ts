#!/usr/bin/env node
/** The `devp2p` command line. */
process.stdout.write('devp2p: under construction\n')
