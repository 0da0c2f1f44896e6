"""From a waveform archive to spectrograms, at network scale.

  sources   what to process: SDS archive roots, directories, globs and files -> sorted units of work
            (a station-channel-day in an SDS archive, a file otherwise)
  unit      one unit: read with margins from the neighbouring days, merge, pre-filter, STA/LTA, cut
  job       many units: a process pool or Dask, results streamed into the RIS file in a fixed order,
            a manifest of finished units for --resume, bad units skipped and named
  synthetic a continuous synthetic SDS archive (miniSEED day files, StationXML, planted catalogue)
"""
