# bench/plot.gp: the ratios of the latest run against their targets.
#
#   gnuplot -e "datafile='ratios.dat'; outfile='latest.png'; empty=0; subtitle='...'" bench/plot.gp
#
# datafile: one row per compared workload, tab-separated:
#   label, measured ratio, target ratio, bar colour (green met, red not met).
# Ratios are "higher is better" (sipcall/seed for rates, seed/sipcall for
# times, or sipcall against a ceiling); log scale, so 1 is "as fast".

set terminal pngcairo size 1280,720 font "DejaVu Sans,10"
set output outfile
set datafile separator "\t"
set title "sipcall against the seed design: measured ratio (bars) and target (dots)\n{/*0.8 ".subtitle."}"

if (empty) {
    unset xtics; unset ytics; unset border
    set label 1 "no sipcall figures yet: every sipcall function is not yet available" at graph 0.5, 0.5 center
    set xrange [0:1]; set yrange [0:1]
    plot 1/0 notitle
    exit
}

set logscale y 10
set yrange [0.05:*]
set format y "%g×"
set grid ytics mytics
set ylabel "ratio (higher is better, log scale)"
set style fill solid 0.75 border -1
set boxwidth 0.6
set xtics rotate by 30 right nomirror
set key top left opaque
set bmargin 9
set xrange [-0.7:*]
set offsets 0, 0.7, 0, 0
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "#666666"

plot datafile using 0:2:4:xtic(1) with boxes lc rgb variable title "measured", \
     ''       using 0:3 with points pt 7 ps 1.6 lc rgb "#222222" title "target", \
     ''       using 0:2:(sprintf($2 >= 10 ? "%.0f×" : "%.2f×", $2)) with labels offset 0, 0.8 font ",9" notitle
